"""The typed data behind every manifest: schemas and loaders for platform.yaml, runtime.yaml,
model.yaml and platform/environments/<env>.yaml. Bad data is a UserError naming file and field."""
