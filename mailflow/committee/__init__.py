"""The committee's side of a case: who may see it, who is a party, what members ask for by mail."""
