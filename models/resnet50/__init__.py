"""resnet50 on TF Serving: the SavedModel export (``export``, ``artifacts``) and a REST ``client``."""
