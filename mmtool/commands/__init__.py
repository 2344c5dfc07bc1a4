"""Built-in CLI subcommands that are more than a few lines."""
