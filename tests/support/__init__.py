"""What the tests share that is not a fixture: helpers, stand-ins, constants. Fixtures live in the conftests."""
