"""Platform facts: tags, and the policies loaded from ``policies/*.json``."""
