"""Built-in methods. Each module holds one method: docstring with citation, network, presets as data."""
