"""Built-in evaluation protocols."""
