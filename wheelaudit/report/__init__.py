"""The audit result and every way of presenting it: text, JSON, SARIF, GitHub, the gate."""
