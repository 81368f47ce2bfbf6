"""Built-in App Garden apps shipped with waza (`catalog.yaml`) and their code."""
