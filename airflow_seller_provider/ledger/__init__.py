"""The ledger: a record of every cancellation and stock change, in the seller's own database."""
