"""Supply chain for the images the platform builds: SBOM, provenance, signatures, policy.

- ``sbom``: a CycloneDX 1.6 SBOM from the files the layers hold (``contents``), each file
  attributed to a .deb, wheel, model artifact, the repo's code or the builder (``attribute``).
- ``provenance``: a SLSA v1 in-toto statement (builder, commit, resolved deps, base images).
- ``referrers``: both attached to the OCI layout as OCI 1.1 referrers (``subject``).
"""
