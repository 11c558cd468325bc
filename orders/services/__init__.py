"""Writers of orders: checkout (with its pricing and intake rules), cancel, fulfilment progress,
closing."""
