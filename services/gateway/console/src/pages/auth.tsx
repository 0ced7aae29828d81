// Signing up, signing in (password, then the TOTP code when the account asks
// for one), enrolling a TOTP secret when the account must, and signing in
// again over a page whose session expired.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, post, publicPost } from "../api";
import { currentSession, setSession, signOut, type Session } from "../session";
import { navigate } from "../router";
import { ExternalSignIn } from "./external";
import { ErrorBanner, Form, Link, PageHeader, Secret, TextField } from "../ui/components";

interface SignInResponse {
  accessToken: string;
  expireTime: string;
  principal: string;
  totpEnrollmentRequired?: boolean;
}

/** signIn exchanges a password (and a TOTP code) for a session. */
async function signIn(org: string, email: string, password: string, totp: string): Promise<Session> {
  const organization = "organizations/" + org.trim();
  const r = await publicPost<SignInResponse>(`${organization}:signIn`, {
    password: { email: email.trim(), password, totpCode: totp || undefined },
  });
  return {
    organization,
    principal: r.principal,
    email: email.trim(),
    token: r.accessToken,
    expireTime: r.expireTime,
    totpEnrollmentRequired: !!r.totpEnrollmentRequired,
  };
}

/**
 * SignInForm asks for the organization, email and password, and for the
 * TOTP code once the server says the account needs one. With fixed set, the
 * organization and email are those of the expired session.
 */
export function SignInForm(props: { fixed?: { org: string; email: string }; onDone: (s: Session) => void }) {
  const [org, setOrg] = useState(props.fixed?.org ?? new URLSearchParams(location.search).get("org") ?? "");
  const [email, setEmail] = useState(props.fixed?.email ?? "");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const [askTotp, setAskTotp] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    try {
      props.onDone(await signIn(org, email, password, totp));
    } catch (e) {
      if (e instanceof ApiError && e.reason === "TOTP_REQUIRED") {
        if (askTotp && totp) setError(e);
        else setError(undefined);
        setAskTotp(true);
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label="Sign in">
      <ErrorBanner error={error} />
      {props.fixed ? null : (
        <TextField label="Organization ID" value={org} onInput={setOrg} field="organization" error={error} required autocomplete="organization" />
      )}
      {props.fixed ? null : <TextField label="Email" type="email" value={email} onInput={setEmail} field="password.email" error={error} required autocomplete="username" />}
      <TextField label="Password" type="password" value={password} onInput={setPassword} field="password.password" error={error} required autocomplete="current-password" />
      {askTotp ? (
        <TextField label="Authenticator code" value={totp} onInput={setTotp} field="password.totp_code" error={error} required autocomplete="one-time-code" inputMode="numeric" hint="The six digits your authenticator app shows now." />
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        Sign in
      </button>
      {props.fixed ? null : <ExternalSignIn org={org} />}
    </Form>
  );
}

/** SignInPage is the console's front door. */
export function SignInPage() {
  return (
    <main class="auth" id="main">
      <PageHeader title="Sign in to Steward" />
      <SignInForm
        onDone={(s) => {
          setSession(s);
          navigate(s.totpEnrollmentRequired ? "/totp" : "/", true);
        }}
      />
      <p>
        New to Steward? <Link href="/signup">Create an organization</Link>.
      </p>
    </main>
  );
}

/** SignUpPage creates an organization and its owner, then signs the owner in. */
export function SignUpPage() {
  const [f, setF] = useState({ organizationId: "", organizationDisplayName: "", nickname: "", email: "", displayName: "", password: "" });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const field = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const submit = async () => {
    setBusy(true);
    try {
      const r = await publicPost<{ organization: { name: string } }>("organizations:signUp", f);
      const org = r.organization.name.replace(/^organizations\//, "");
      const s = await signIn(org, f.email, f.password, "");
      setSession(s);
      navigate(s.totpEnrollmentRequired ? "/totp" : "/", true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="auth" id="main">
      <PageHeader title="Create an organization" />
      <Form onSubmit={submit} label="Sign up">
        <ErrorBanner error={error} />
        <TextField label="Organization name" value={f.organizationDisplayName} onInput={field("organizationDisplayName")} field="organization_display_name" error={error} required />
        <TextField label="Organization ID" value={f.organizationId} onInput={field("organizationId")} field="organization_id" error={error} hint="Lowercase letters, digits and dashes; left empty, Steward picks one." />
        <TextField label="Your nickname" value={f.nickname} onInput={field("nickname")} field="nickname" error={error} required autocomplete="nickname" />
        <TextField label="Your name" value={f.displayName} onInput={field("displayName")} field="display_name" error={error} autocomplete="name" />
        <TextField label="Email" type="email" value={f.email} onInput={field("email")} field="email" error={error} required autocomplete="username" />
        <TextField label="Password" type="password" value={f.password} onInput={field("password")} field="password" error={error} required autocomplete="new-password" hint="At least 8 characters." />
        <button type="submit" class="primary" disabled={busy}>
          Create organization
        </button>
      </Form>
      <p>
        Already have one? <Link href="/signin">Sign in</Link>.
      </p>
    </main>
  );
}

/** TotpEnrollPage enrolls an authenticator when the account requires MFA and has none yet. */
export function TotpEnrollPage() {
  const s = currentSession();
  const [secret, setSecret] = useState<{ secret: string; otpauthUri?: string } | null>(null);
  const [code, setCode] = useState("");
  const [error, setError] = useState<unknown>();
  if (!s) return null;
  const start = async () => {
    try {
      setSecret(await post(`${s.principal}:enrollTotp`, {}));
    } catch (e) {
      setError(e);
    }
  };
  const confirm = async () => {
    try {
      await post(`${s.principal}:confirmTotp`, { code });
      signOut();
      navigate("/signin?org=" + encodeURIComponent(s.organization.replace(/^organizations\//, "")), true);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <main class="auth" id="main">
      <PageHeader title="Set up your authenticator" />
      <p>Your account needs a second factor. Add Steward to an authenticator app, then enter the code it shows.</p>
      <ErrorBanner error={error} />
      {secret ? (
        <Form onSubmit={confirm} label="Confirm authenticator">
          <Secret label="Your TOTP secret." value={secret.secret} />
          <TextField label="Authenticator code" value={code} onInput={setCode} field="code" error={error} required autocomplete="one-time-code" inputMode="numeric" />
          <button type="submit" class="primary">
            Confirm
          </button>
        </Form>
      ) : (
        <button type="button" class="primary" onClick={start}>
          Show my secret
        </button>
      )}
    </main>
  );
}

/**
 * ReauthDialog asks for the password again over the page whose session
 * expired. It is a modal <dialog> opened last, so it sits above any dialog
 * the person was typing in (the top layer stacks in opening order), and
 * Escape does not dismiss it: the refused call waits for it.
 */
export function ReauthDialog({ why }: { why: string }) {
  const s = currentSession();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  if (!s) return null;
  return (
    <dialog ref={ref} class="reauth" aria-labelledby="reauth-title" onCancel={(e) => e.preventDefault()}>
      <h2 id="reauth-title">Sign in again</h2>
      <p>
        {why} What you were doing is kept: sign in as {s.email} to go on.
      </p>
      <SignInForm fixed={{ org: s.organization.replace(/^organizations\//, ""), email: s.email }} onDone={setSession} />
      <button
        type="button"
        class="link"
        onClick={() => {
          signOut();
          navigate("/signin", true);
        }}
      >
        Sign out instead
      </button>
    </dialog>
  );
}

/** whoAmI reads the signed-in user, for the header. */
export function whoAmI(principal: string): Promise<{ displayName?: string; email?: string; nickname?: string }> {
  return get(principal);
}
