"""The finance pages the revenue admin adds beside its lists: a contract's revenue, the trial
balance and the period close.

Each module builds one page (its form, its figures and its view); ``revenue.admin`` wires the
views into the admin's URLs, so that they run with the admin's login, permissions and frame.
"""
