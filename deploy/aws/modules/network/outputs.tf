output "vpc_id" {
  value = aws_vpc.this.id
}

output "cidr_block" {
  value = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "s3_prefix_list_id" {
  description = "The S3 gateway endpoint's prefix list (security groups allow HTTPS to it)."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}
