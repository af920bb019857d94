// A real OpenID provider (npm oidc-provider) for Ponte's company sign-in tests.
// PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI from the environment; its built-in
// development login page ("devInteractions") takes any user name, and the account's
// claims come from ACCOUNTS below. Prints "listening <issuer>" once it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const ACCOUNTS = {
  alice: { email: 'alice@example.org', name: 'Alice Archer', groups: ['sales', 'staff'] },
  newcomer: { email: 'newcomer@example.org', name: 'New Comer', groups: ['staff'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'groups'], email: ['email'] },
  conformIdTokenClaims: false, // the claims go into the ID token, as Entra ID and Google put them
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['ponte-test-only'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() { return { sub: id, preferred_username: id, ...(ACCOUNTS[id] || {}) }; },
    };
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
