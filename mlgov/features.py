"""The feature schema: what a risk model is given for one candidate Spot pool, in this order.

A model is uploaded with the feature-schema version it was trained on; only a version listed in
FEATURE_SCHEMAS can leave CANDIDATE, and its ONNX input must be one float tensor [batch, len(features)].
Its outputs must include `probabilities` [batch, 2] (skl2onnx's layout with zipmap off): column 1 is the
probability that an instance in that pool is interrupted within the next day (the crash probability).

Version "1" (each value a float; "missing" flags are 1.0 when the source had no answer, and the value is
then 0.0, never invented):

| # | name | meaning |
|---|---|---|
| 0 | price_ratio_to_on_demand | the pool's current Spot price / the type's on-demand price |
| 1 | price_ratio_to_current | the pool's Spot price / what the instance pays now |
| 2 | price_trend_7d | (last price - price 7 days ago) / price 7 days ago |
| 3 | price_volatility_7d | standard deviation / mean of the pool's price steps over 7 days |
| 4 | pool_interruptions_15d | interruption warnings of the pool, every tenant, last 15 days |
| 5 | pool_days_since_interruption | days since the pool's last warning (capped at 30) |
| 6 | neighbour_az_interruptions_15d | warnings of the same type in the region's other AZs, 15 days |
| 7 | family_interruptions_15d | warnings of the same family (m5.*) in the AZ, 15 days |
| 8 | pool_rebalance_15d | rebalance recommendations of the pool, 15 days |
| 9 | tenant_interruptions_30d | the tenant's own warnings in the region, 30 days |
| 10 | placement_score | GetSpotPlacementScores for the type in the region, 1 to 10 |
| 11 | placement_score_missing | 1.0 when no score is known |
| 12 | advisor_band | the Spot Instance Advisor's interruption band's upper bound (0.05 … 1.0) |
| 13 | advisor_band_missing | 1.0 when the advisor has no band for the type and region |
"""

FEATURE_SCHEMAS: dict[str, tuple[str, ...]] = {
    "1": (
        "price_ratio_to_on_demand",
        "price_ratio_to_current",
        "price_trend_7d",
        "price_volatility_7d",
        "pool_interruptions_15d",
        "pool_days_since_interruption",
        "neighbour_az_interruptions_15d",
        "family_interruptions_15d",
        "pool_rebalance_15d",
        "tenant_interruptions_30d",
        "placement_score",
        "placement_score_missing",
        "advisor_band",
        "advisor_band_missing",
    )
}
CURRENT_FEATURE_SCHEMA = "1"
PROBABILITIES_OUTPUT = "probabilities"


def features_of(version: str) -> tuple[str, ...] | None:
    return FEATURE_SCHEMAS.get(version)
