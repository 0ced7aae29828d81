// Signing in through an organization's OpenID Connect identity provider
// (issue 16 point 2): the sign-in page asks the directory how the
// organization signs in (GetSignInOptions, public); for one on OIDC it
// offers a button that sends the browser to the provider's authorization
// endpoint (implicit flow, ID token in the fragment), with a fresh state and
// nonce kept in sessionStorage. The provider sends the browser back to
// /signin/callback, which checks both and exchanges the ID token for a
// session with SignIn's external credential.

import { useEffect, useState } from "preact/hooks";
import { get, publicPost } from "../api";
import { navigate } from "../router";
import { setSession } from "../session";
import { ErrorBanner, Link, PageHeader } from "../ui/components";

/** SignInOptions is the directory's answer: how to sign in to an organization. */
interface SignInOptions {
  kind?: string;
  issuer?: string;
  authorizationEndpoint?: string;
  clientId?: string;
  scopes?: string[];
}

/** Pending is a sign-in sent to the identity provider and not back yet. */
interface Pending {
  org: string;
  state: string;
  nonce: string;
}

const pendingKey = "steward.oidc";
const orgPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

function random(): string {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** callbackURL is where the identity provider sends the browser back. */
function callbackURL(): string {
  return location.origin + "/signin/callback";
}

/**
 * ExternalSignIn offers "Sign in with <provider>" once org (an ID being
 * typed) names an organization on OIDC; nothing otherwise.
 */
export function ExternalSignIn({ org }: { org: string }) {
  const [opts, setOpts] = useState<SignInOptions | null>(null);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setOpts(null);
    setError(undefined);
    const id = org.trim();
    if (!orgPattern.test(id)) return;
    // Ask once the typing pauses.
    let stale = false;
    const t = setTimeout(() => {
      get<SignInOptions>(`organizations/${id}/signInOptions`).then(
        (o) => !stale && setOpts(o),
        (e) => !stale && setError(e),
      );
    }, 300);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [org]);
  if (error) return <ErrorBanner error={error} />;
  if (opts?.kind !== "KIND_OIDC" || !opts.authorizationEndpoint) return null;
  const host = new URL(opts.issuer || opts.authorizationEndpoint).host;
  const start = () => {
    const p: Pending = { org: org.trim(), state: random(), nonce: random() };
    sessionStorage.setItem(pendingKey, JSON.stringify(p));
    const u = new URL(opts.authorizationEndpoint!);
    u.searchParams.set("response_type", "id_token");
    u.searchParams.set("response_mode", "fragment");
    u.searchParams.set("client_id", opts.clientId ?? "");
    u.searchParams.set("redirect_uri", callbackURL());
    u.searchParams.set("scope", (opts.scopes ?? ["openid"]).join(" "));
    u.searchParams.set("state", p.state);
    u.searchParams.set("nonce", p.nonce);
    location.assign(u.toString());
  };
  return (
    <div class="external-signin">
      <p class="muted">This organization signs in through its identity provider.</p>
      <button type="button" class="primary" onClick={start}>
        Sign in with {host}
      </button>
    </div>
  );
}

/** claimsOf reads an ID token's claims (its signature is the directory's to check). */
function claimsOf(idToken: string): Record<string, unknown> {
  const part = idToken.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

interface SignInResponse {
  accessToken: string;
  expireTime: string;
  principal: string;
  totpEnrollmentRequired?: boolean;
}

/**
 * SignInCallbackPage finishes a sign-in at the identity provider: the state
 * must be the one this tab sent and the ID token must carry its nonce
 * (else it was not asked for here), then SignIn turns it into a session.
 */
export function SignInCallbackPage() {
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const params = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", "/signin/callback"); // the token leaves the address bar
    const raw = sessionStorage.getItem(pendingKey);
    sessionStorage.removeItem(pendingKey);
    const finish = async () => {
      const p = raw ? (JSON.parse(raw) as Pending) : null;
      if (params.get("error")) throw new Error(`The identity provider refused: ${params.get("error_description") || params.get("error")}`);
      if (!p || params.get("state") !== p.state) throw new Error("This sign-in was not started here (its state does not match): start again.");
      const idToken = params.get("id_token") ?? "";
      const claims = claimsOf(idToken);
      if (claims.nonce !== p.nonce) throw new Error("The identity provider's answer is not for this sign-in (its nonce does not match): start again.");
      const organization = "organizations/" + p.org;
      const r = await publicPost<SignInResponse>(`${organization}:signIn`, { external: { idToken } });
      setSession({
        organization,
        principal: r.principal,
        email: typeof claims.email === "string" ? claims.email : "",
        token: r.accessToken,
        expireTime: r.expireTime,
        totpEnrollmentRequired: !!r.totpEnrollmentRequired,
      });
      navigate("/", true);
    };
    finish().catch(setError);
  }, []);
  return (
    <main class="auth" id="main">
      <PageHeader title="Signing you in" />
      {error ? (
        <>
          <ErrorBanner error={error} />
          <p>
            <Link href="/signin">Back to sign-in</Link>
          </p>
        </>
      ) : (
        <p>Checking your identity provider's answer…</p>
      )}
    </main>
  );
}
