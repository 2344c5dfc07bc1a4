"""Enable mmtool's pytest plugin: the plugin_manager fixture (builders are imported from mmtool.testing)."""

pytest_plugins = ["mmtool.testing"]
