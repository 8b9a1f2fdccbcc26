// Preloaded with `node --import` by the test harness of orchestra-provider-portkey.
// The Portkey gateway's CLI has no host flag: its server would listen on every
// interface. This makes every TCP server of the process listen on 127.0.0.1 only.
import net from 'node:net';

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function loopbackListen(...args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, callback]): pin the host unless it is a pipe or a handle.
    const isPipeOrHandle = ['path', 'handle', '_handle', 'fd'].some((key) => first[key] !== undefined);
    if (!isPipeOrHandle) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): put the host second.
    const second = args[1];
    if (typeof second === 'string' || second === undefined || second === null) {
      args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return listen.apply(this, args);
};
