// Types for the dev dependency `parse-prometheus-text-format`, which ships none. Interface names are prefixed
// so that this declaration merges cleanly with any other declaration of the same module in the project.
declare module "parse-prometheus-text-format" {
  export interface OpsPrometheusSample {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface OpsPrometheusFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: OpsPrometheusSample[];
  }
  export default function parsePrometheusTextFormat(text: string): OpsPrometheusFamily[];
}
