// A live target `access-broker dev` starts on loopback so the demo resources have something real
// behind them.

export interface DemoTarget {
  /** What it is, for the dev banner (e.g. "demo-postgres"). */
  name: string;
  host: string;
  port: number;
  /** Stops the target and waits until it is gone; safe to call more than once. */
  stop(): Promise<void>;
}
