/**
 * The console: sign in with a secret, find an opportunity, read its timeline and chart, see it as it was at any
 * point, follow the recent changes live, and prove the chain. Everything comes from the HTTP API; nothing here
 * can write.
 */
import { ApiFault, call, faultText, whenUnauthorized } from "./api";
import { drawChart } from "./chart";
import { ChainProof } from "./chain-proof";
import { byId, say } from "./dom";
import { useStages } from "./format";
import { RecentFeed } from "./recent-feed";
import { OpportunityView } from "./opportunity-view";
import { session } from "./session";

const signInSection = byId("sign-in");
const workspace = byId("workspace");
const sessionBar = byId("session");
const secretInput = byId<HTMLInputElement>("secret");
const signInMessage = byId("sign-in-message");

const proof = new ChainProof();
const opportunity = new OpportunityView(drawChart);
const feed = new RecentFeed(byId<HTMLOListElement>("recent"), byId("recent-mode"), {
  head: (head) => proof.showHead(head),
  event: (event) => opportunity.changed(event.streamId),
});

/** Loads what every view needs (the stage dictionary); fails with the service's message for a bad secret. */
async function enter(): Promise<void> {
  const stages = await call<{ code: string; label: string }[]>("GET", "/api/stages");
  if (stages.ok) useStages(stages.data);
  signInSection.hidden = true;
  workspace.hidden = false;
  sessionBar.hidden = false;
  await feed.start();
  openFromHash();
}

function signOut(message = ""): void {
  session.forget();
  // Which opportunity was open is not for the next person at this screen either.
  if (location.hash) history.replaceState(null, "", location.pathname);
  feed.stop();
  proof.reset();
  opportunity.reset();
  workspace.hidden = true;
  sessionBar.hidden = true;
  signInSection.hidden = false;
  say(signInMessage, message, message ? "error" : "");
  secretInput.value = "";
  secretInput.focus();
}

async function signIn(secret: string): Promise<void> {
  if (secret === "") return say(signInMessage, "请输入访问密钥", "error");
  say(signInMessage, "正在验证…");
  try {
    const answer = await call<unknown>("GET", "/api/stages", { secret });
    if (!answer.ok) return say(signInMessage, answer.message, "error");
  } catch (error) {
    return say(signInMessage, faultText(error), "error");
  }
  session.keep(secret);
  secretInput.value = "";
  say(signInMessage, "");
  await enter();
  byId<HTMLInputElement>("code").focus();
}

/** `#opp=CODE` (the recent changes link there) opens that opportunity. */
function openFromHash(): void {
  const match = /^#opp=(.+)$/.exec(location.hash);
  if (match && session.secret()) void opportunity.find(decodeURIComponent(match[1]!));
}

whenUnauthorized((message) => {
  if (session.secret() !== null) signOut(message);
});
byId<HTMLFormElement>("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void signIn(secretInput.value.trim());
});
byId("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", openFromHash);

if (session.secret()) {
  enter().catch((error: unknown) => signOut(error instanceof ApiFault ? error.message : faultText(error)));
} else {
  secretInput.focus();
}
