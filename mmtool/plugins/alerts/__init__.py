"""Built-in alert sinks."""
