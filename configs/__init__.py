"""Config presets (LightningCLI YAML recipes), shipped in the package as the resource ``blurbench.configs``."""
