"""Pure calculations for contracts: plain values in, plain values out, no ORM and no clock."""
