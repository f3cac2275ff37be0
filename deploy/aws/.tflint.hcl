# tflint with its bundled Terraform rules only (no plugin is downloaded): scripts/iac-check.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

rule "terraform_documented_variables" {
  enabled = false # variables are documented where a name does not say enough; the example root documents all
}
