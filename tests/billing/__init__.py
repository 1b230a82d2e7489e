"""Tests of the billing engine: the pure domain calculations and, later, its services."""
