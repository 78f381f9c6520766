"""The local Digital Post gateway: the provider's API and citizens' mailboxes."""
