# Tier 2 only: where the emulator listens (scripts/iac-check).
variable "emulator_endpoint" {
  description = "The AWS emulator's URL on loopback."
  type        = string
}
