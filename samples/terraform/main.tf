provider "google" {
  project = var.project_id
  region  = var.region
}

module "network" {
  source = "./modules/network"
  name   = var.cluster_name
  region = var.region
}

resource "google_container_cluster" "web" {
  name                     = var.cluster_name
  location                 = var.region
  network                  = module.network.network_name
  subnetwork               = module.network.subnetwork_name
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false
}

resource "google_container_node_pool" "default" {
  name       = "${var.cluster_name}-default"
  cluster    = google_container_cluster.web.id
  node_count = var.node_count

  node_config {
    machine_type = "e2-standard-2"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    labels = {
      app = "web"
    }
  }
}

data "google_client_config" "current" {}

provider "kubernetes" {
  host                   = "https://${google_container_cluster.web.endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(google_container_cluster.web.master_auth[0].cluster_ca_certificate)
}
