# Native S3 cross-region replication (primary -> recovery) for every data class
# with replicate = true. S3 carries the bulk bytes; dro verifies the replica and
# replicates anything S3 has not (or cannot, e.g. objects written before the rule).

data "aws_iam_policy_document" "assume" {
  count = length(local.replicated) > 0 ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "replication" {
  count = length(local.replicated) > 0 ? 1 : 0
  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.primary.arn]
  }
  statement {
    actions = [
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging",
      "s3:GetObjectRetention",
      "s3:GetObjectLegalHold",
    ]
    resources = ["${aws_s3_bucket.primary.arn}/*"]
  }
  statement {
    actions = [
      "s3:ReplicateObject",
      "s3:ReplicateDelete",
      "s3:ReplicateTags",
      "s3:ObjectOwnerOverrideToBucketOwner",
    ]
    resources = ["${aws_s3_bucket.recovery.arn}/*"]
  }
  dynamic "statement" {
    for_each = lookup(var.kms_key_arns, "primary", "") == "" ? [] : [1]
    content {
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arns["primary"]]
    }
  }
  dynamic "statement" {
    for_each = lookup(var.kms_key_arns, "recovery", "") == "" ? [] : [1]
    content {
      actions   = ["kms:Encrypt"]
      resources = [var.kms_key_arns["recovery"]]
    }
  }
}

resource "aws_iam_role" "replication" {
  count              = length(local.replicated) > 0 ? 1 : 0
  provider           = aws.primary
  name               = "dro-${var.runbook_name}-s3-replication"
  assume_role_policy = data.aws_iam_policy_document.assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "replication" {
  count    = length(local.replicated) > 0 ? 1 : 0
  provider = aws.primary
  name     = "s3-replication"
  role     = aws_iam_role.replication[0].id
  policy   = data.aws_iam_policy_document.replication[0].json
}

resource "aws_s3_bucket_replication_configuration" "primary_to_recovery" {
  count      = length(local.replicated) > 0 ? 1 : 0
  provider   = aws.primary
  bucket     = aws_s3_bucket.primary.id
  role       = aws_iam_role.replication[0].arn
  depends_on = [aws_s3_bucket_versioning.primary, aws_s3_bucket_versioning.recovery]

  dynamic "rule" {
    for_each = local.replicated
    content {
      id       = "dro-${rule.key}"
      status   = "Enabled"
      priority = index(sort(keys(local.replicated)), rule.key) + 1
      filter {
        prefix = "${var.primary_prefix}${rule.value.prefix}"
      }
      delete_marker_replication {
        status = "Disabled"
      }
      source_selection_criteria {
        replica_modifications {
          status = var.replica_modification_sync ? "Enabled" : "Disabled"
        }
        dynamic "sse_kms_encrypted_objects" {
          for_each = lookup(var.kms_key_arns, "primary", "") == "" ? [] : [1]
          content {
            status = "Enabled"
          }
        }
      }
      destination {
        bucket        = aws_s3_bucket.recovery.arn
        storage_class = "STANDARD"
        dynamic "encryption_configuration" {
          for_each = lookup(var.kms_key_arns, "recovery", "") == "" ? [] : [1]
          content {
            replica_kms_key_id = var.kms_key_arns["recovery"]
          }
        }
      }
    }
  }
}
