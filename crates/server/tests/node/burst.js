// Captures COUNT exceptions in a burst with the real @sentry/node, then flushes.
// Prints one JSON line: {"sent": COUNT, "dropped": <events not answered 200>}.
// Usage: node burst.js DSN COUNT
//
// The SDK's transport keeps at most `bufferSize` requests in flight (64 by
// default) and drops what does not fit on the client side, whatever the server
// does; the queue is sized to the burst here so that all COUNT envelopes are in
// flight at once (chunked, as Node sends them) and the server alone decides their
// fate.
const Sentry = require('@sentry/node');

const [dsn, countText] = process.argv.slice(2);
const count = Number(countText || '300');
let dropped = 0;

Sentry.init({
  dsn,
  defaultIntegrations: false,
  sendClientReports: false,
  transportOptions: { bufferSize: count + 10 },
  beforeSend(event) {
    return event;
  },
});
Sentry.getClient().on('afterSendEvent', (_event, response) => {
  if (!response || (response.statusCode && response.statusCode !== 200)) {
    dropped += 1;
  }
});

(async () => {
  for (let i = 0; i < count; i++) {
    Sentry.captureException(new Error(`burst ${i}`));
  }
  await Sentry.flush(60000);
  console.log(JSON.stringify({ sent: count, dropped }));
})();
