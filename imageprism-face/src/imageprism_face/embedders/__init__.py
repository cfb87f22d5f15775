"""Face embedders that ship with the face pack."""
