// A minimal valid `tenant` block for serve configs in tests (8 lines, so cases can count lines),
// its Graph secret read from ACCESS_GRAPH_CLIENT_SECRET.

export const TENANT_LINES = [
  'tenant:',
  '  id: 3F2B8C1E-5D4A-4E6F-9A7B-2C1D0E9F8A76',
  '  cliClientId: 0c5e7a3d-9b1f-4c2e-8d6a-7f4b3e2a1c90',
  '  audiences: [api://access-broker]',
  '  cliScope: api://access-broker/user_impersonation',
  '  graph:',
  '    clientId: 6e5d4c3b-2a19-4f8e-b7d6-c5b4a3928170',
  '    clientSecretEnv: ACCESS_GRAPH_CLIENT_SECRET',
] as const;
