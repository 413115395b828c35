"""The price book: overrides, disk cache, AWS Price List API and a bundled dated snapshot."""
