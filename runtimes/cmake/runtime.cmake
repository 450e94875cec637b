# The fiber runtime (owner: runtime core).
