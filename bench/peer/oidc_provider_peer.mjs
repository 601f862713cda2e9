// The peer of bench/sso_login.py: node-oidc-provider 9, in memory, one process, configured like idp-bridge's
// first-party application (code flow, S256 PKCE required, client_secret_basic, RS256 ID tokens). A browser's
// first authorize is signed in by the /interaction route below (no login UI: the bench measures SSO).
// Usage: node bench/peer/oidc_provider_peer.mjs PORT REDIRECT_URI CLIENT_SECRET
import http from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import Provider from "oidc-provider";

const [port, redirectUri, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "bench", alg: "RS256", use: "sig" };

const provider = new Provider(issuer, {
  clients: [{
    client_id: "bench", client_secret: clientSecret, redirect_uris: [redirectUri],
    grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // First-party: no consent screen; the grant is created (and then found) on the session.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid");
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
const callback = provider.callback();

http.createServer(async (req, res) => {
  if (req.url.startsWith("/interaction/")) {
    try {
      await provider.interactionFinished(req, res, { login: { accountId: "bench" } }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.statusCode = 400;
      res.end(String(err));
    }
    return;
  }
  callback(req, res);
}).listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));
