"""Code the tests share (fixtures' helpers, doubles, service wrappers), each defined once."""
