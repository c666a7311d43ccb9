"""Platform subcommands: they grade with the engine and hand the report to a renderer."""
