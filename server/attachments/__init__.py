"""Photos on notes: content-addressed blob storage (disk or S3), the upload/download API, OCR, and shares that
arrive before the app's service worker exists. See docs/architecture.md for the modules."""
