"""The pure domain: entities, rules and errors. Standard library only."""
