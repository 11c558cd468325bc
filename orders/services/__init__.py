"""Writers of orders: checkout, cancel, fulfilment progress, customers."""
