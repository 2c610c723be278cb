"""The domain layer: accounts, input rules, throttle, passwords and tokens, seed."""
