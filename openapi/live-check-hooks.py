"""schemathesis hooks for openapi/live-check.sh (loaded through SCHEMATHESIS_HOOKS).

GET /openapi.yaml answers `application/yaml`, and the spec describes that body as a
string (the document's text, so generated clients hand it over as text instead of
trying to build a model of it). schemathesis parses YAML responses into objects
before validating them, which would compare a mapping with `type: string`; this
deserializer hands it the text, as the spec and the generated clients see it. The
live check compares the served bytes with openapi/openapi.yaml separately.
"""

import schemathesis


# schemathesis picks the first registered deserializer of the YAML family, so every
# YAML media type it knows is taken over (Baton serves only application/yaml).
@schemathesis.deserializer("text/yaml", "text/x-yaml", "application/x-yaml", "text/vnd.yaml", "application/yaml")
def yaml_document_as_text(_ctx, response):
    return response.content.decode(response.encoding or "utf-8")
