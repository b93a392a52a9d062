"""Platform facts: tags, and the policies of ``policies/*.json`` (loader, one module per platform, policyset)."""
