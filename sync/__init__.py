"""KeepTabs sync rules: wire Structs and pure merge functions (no I/O, no clock, no web or database imports)."""
