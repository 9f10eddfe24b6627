"""The built-in OpenID Connect provider (client credentials for services, authorization
code with PKCE for operators), its signing keys, and acceptance of tokens from external
issuers."""
