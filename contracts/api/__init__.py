"""REST API of the contracts app: customers, products, and contracts with their lines.

``serializers`` gives the shapes, ``writes`` checks and saves rows as the admin's forms do, and
``views`` ties them to routes under ``/api/v1/``.
"""
