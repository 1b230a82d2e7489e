"""Pure revenue calculations: plain values in, plain values out, no database, clock or I/O."""
