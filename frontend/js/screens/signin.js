// Sign-up and sign-in forms; a signed-in user joins the user selector.
import { html } from "../lib.js";
import { gql, payloadOf } from "../api.js";
import { useForm } from "../forms.js";
import { signIn } from "../session.js";
import { DoneNotice, ErrorNotice } from "../components/notice.js";

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { user { id username } errors { code message field } }
}`;

function SignInForm() {
  const form = useForm({ username: "", password: "" });
  const onSubmit = form.submit(async (values) => {
    await signIn(values.username, values.password);
    return null;
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Sign in">
    <h2>Sign in</h2>
    <label>Username or email<input autocomplete="username" required ...${form.bind("username")} /></label>
    <label>Password<input type="password" autocomplete="current-password" required ...${form.bind("password")} /></label>
    <button type="submit" disabled=${form.busy}>Sign in</button>
    <${ErrorNotice} error=${form.error} />
  </form>`;
}

function SignUpForm() {
  const form = useForm({ username: "", email: "", fullName: "", password: "" });
  const onSubmit = form.submit(async (values) => {
    payloadOf(await gql(REGISTER, { input: values }), "register");
    await signIn(values.username, values.password);
    return `Signed up as ${values.username}.`;
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Sign up">
    <h2>Create a user</h2>
    <label>New username<input autocomplete="off" required ...${form.bind("username")} /></label>
    <label>Email<input type="email" autocomplete="off" required ...${form.bind("email")} /></label>
    <label>Full name<input autocomplete="off" ...${form.bind("fullName")} /></label>
    <label>New password<input type="password" autocomplete="new-password" required ...${form.bind("password")} /></label>
    <button type="submit" disabled=${form.busy}>Sign up</button>
    <${ErrorNotice} error=${form.error} />
    <${DoneNotice}>${form.result}<//>
  </form>`;
}

/** Both forms side by side. */
export function SignInScreen() {
  return html`<section class="grid two" aria-label="Sign in or sign up">
    <${SignInForm} />
    <${SignUpForm} />
  </section>`;
}
