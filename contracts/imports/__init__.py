"""CSV layouts of the contracts app: customers, products, contracts with lines, milestones."""
